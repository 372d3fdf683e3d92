/** The console plugin's options. */
export interface ConsoleConfig {
  sessionTtlMinutes: number;
  maxSessions: number;
  secureCookie: 'auto' | 'always' | 'never';
  maxFailedSignIns: number;
  failedSignInWindowSeconds: number;
  clientAddressHeader: string | null;
}

export const consoleConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    sessionTtlMinutes: {
      type: 'integer',
      minimum: 1,
      maximum: 10080,
      default: 480,
      description: 'A console session ends this many minutes after its last use (default 480 = 8 h); sessions live in this process only and end at restart.',
    },
    maxSessions: {
      type: 'integer',
      minimum: 1,
      default: 10000,
      description: 'Most signed-in sessions kept at once; past it the least recently used is signed out (default 10000).',
    },
    secureCookie: {
      enum: ['auto', 'always', 'never'],
      default: 'auto',
      description: "The session cookie's Secure flag: 'auto' sets it when the request came over HTTPS (directly or per x-forwarded-proto), 'always' and 'never' force it.",
    },
    maxFailedSignIns: {
      type: 'integer',
      minimum: 1,
      default: 10,
      description: 'Failed sign-ins allowed from one client address within failedSignInWindowSeconds (default 10); past it every sign-in from there answers 429 with retry-after until the oldest failure leaves the window. Successful sign-ins do not count.',
    },
    failedSignInWindowSeconds: {
      type: 'integer',
      minimum: 1,
      maximum: 86400,
      default: 60,
      description: 'The sliding window of maxFailedSignIns, in seconds (default 60).',
    },
    clientAddressHeader: {
      type: ['string', 'null'],
      pattern: '^[A-Za-z0-9-]+$',
      default: null,
      description: "The header whose last address is the client's, set by the proxy in front of the gateway (e.g. x-forwarded-for), for the failed sign-in limit; null (default): the connection's address. Set it only behind a proxy that sets it, or clients choose their own address.",
    },
  },
} as const;
