/**
 * `@netloom/plugin-sdk/testing`: the test kits a plugin's own tests use, kept out of the main
 * entry so a plugin's runtime never loads them. They use only the SDK's public surface.
 */
export { agentTestHost, type AgentTestHost } from './testkit-agent';
export { type InMemoryIntent, inMemoryIntent, runController } from './testkit-controller';
