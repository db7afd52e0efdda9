"""The event sources AWS runs for the stack, run locally: the table's stream feeder and the schedules."""
