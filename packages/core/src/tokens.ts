import type { InjectionToken } from 'tsyringe';
import type { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config-schema.js';
import type { GatewayEvents } from './events.js';
import type { ProviderAdapter } from './provider.js';
import type { LoadedPlugin } from './plugin.js';

/** DI tokens core registers in each gateway's container. */
export const CONFIG: InjectionToken<GatewayConfig> = Symbol.for('tollgate.config');
export const LOGGER: InjectionToken<Logger> = Symbol.for('tollgate.logger');
export const EVENTS: InjectionToken<EventEmitter<GatewayEvents>> = Symbol.for('tollgate.events');
export const PROVIDERS: InjectionToken<ProviderAdapter[]> = Symbol.for('tollgate.providers');
export const PLUGINS: InjectionToken<LoadedPlugin[]> = Symbol.for('tollgate.plugins');
export const ENV: InjectionToken<Record<string, string | undefined>> = Symbol.for('tollgate.env');
