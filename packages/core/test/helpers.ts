import { startTestGateway, TEST_UPSTREAM_KEY, type TestGateway } from '../src/testing.js';

export const UPSTREAM_KEY = TEST_UPSTREAM_KEY;
export type { TestGateway };

/** Starts a real gateway on 127.0.0.1:0 in front of the mock upstream (see startTestGateway). */
export const startGateway = startTestGateway;
