export { consolePlugin as default, consolePlugin } from './plugin.js';
export { consoleConfigSchema, type ConsoleConfig } from './config-schema.js';
