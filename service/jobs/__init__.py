"""Background work: the worker that runs durable jobs, and the job kinds the service defines."""
