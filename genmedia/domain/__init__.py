"""The domain rules the services share: job specs, job ids and states, CreateJob's checks,
notification targets, the content policy, and the errors they raise."""
