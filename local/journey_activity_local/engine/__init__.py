"""The engine and the AWS it fakes: moto with its patches, IAM, payload and throttling enforcement, fault injection."""
