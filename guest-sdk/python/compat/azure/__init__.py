"""`azure` inside a durable Python component: the Durable Functions (`azure.durable_functions`)
and Azure Functions (`azure.functions`) names a Durable Functions app imports, so its source
builds unchanged (see `azure.durable_functions`)."""
