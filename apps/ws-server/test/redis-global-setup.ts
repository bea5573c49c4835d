// For the projects that run the single-server tests in cluster mode on Redis: one private
// redis-server for the whole run (each server the kit starts uses a key prefix of its own), its
// URL handed to the tests through vitest's provide/inject.

import type { TestProject } from 'vitest/node';
import { type RedisHandle, startRedis } from './redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    exoTestRedisUrl: string;
  }
}

let redis: RedisHandle | null = null;

export async function setup(project: TestProject): Promise<void> {
  redis = await startRedis();
  project.provide('exoTestRedisUrl', redis.url);
}

export async function teardown(): Promise<void> {
  if (redis?.controllable) await redis.stop();
  redis = null;
}
