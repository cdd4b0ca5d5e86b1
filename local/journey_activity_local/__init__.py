"""The developer's tool: the embedded local engine (engine/: moto and the AWS it fakes;
runtime/: the Lambda runtime; standins/: the providers) and the ``journey-activity`` command.
Nothing in the product (``journey_activity``) imports it, and it ships in no Lambda."""
