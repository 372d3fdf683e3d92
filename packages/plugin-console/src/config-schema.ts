/** The console plugin's options. */
export interface ConsoleConfig {
  sessionTtlMinutes: number;
  maxSessions: number;
  secureCookie: 'auto' | 'always' | 'never';
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
  },
} as const;
