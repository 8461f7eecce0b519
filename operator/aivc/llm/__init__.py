"""The Anthropic client wrapper: prompts, tool schemas, retries, token and cost accounting.

`client.LLMClient` is the narrow interface the planner uses; `client.AnthropicClient` is the
real one. Prompts are data files in `prompts/`, rendered by `templates.render`.
"""
