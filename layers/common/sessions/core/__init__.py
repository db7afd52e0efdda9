"""What every layer may use: settings, domain errors, the clock, retry budgets, DynamoDB value encoding."""
