"""AWS, locally: moto's server as the emulator, what makes moto behave like DynamoDB, fake credentials."""
