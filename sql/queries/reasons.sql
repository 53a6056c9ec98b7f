-- How often each reason code fired, per detector. Parameters: run_id.
SELECT detector, verdict, reason, count(*) AS n
FROM (SELECT detector, verdict, unnest(reasons) AS reason
      FROM verdicts WHERE run_id = $run_id AND verdict <> 'keep')
GROUP BY ALL
ORDER BY n DESC, detector, reason;
