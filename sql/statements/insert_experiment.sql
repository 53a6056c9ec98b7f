INSERT INTO experiments (experiment_id, run_id, control_run_id, created_at, status, world,
                         world_manifest, trait, seeds, config, config_sha256,
                         subaudit_version, host, pid)
VALUES ($experiment_id, $run_id, $control_run_id, now(), 'running', $world,
        $world_manifest::JSON, $trait, $seeds::JSON, $config::JSON, $config_sha256,
        $subaudit_version, $host, $pid);
