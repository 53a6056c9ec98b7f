-- A new job, queued. Parameters: job_id, request (JSON text).
INSERT INTO jobs (job_id, status, request) VALUES ($job_id, 'queued', $request::JSON);
