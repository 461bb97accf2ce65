// Shared helpers for the Vercel AI SDK suites (tests/frameworks/README.md).
// Env: GATEWAY_BASE_URL (e.g. http://127.0.0.1:8080/v1), MASTRA_URL (e.g. http://127.0.0.1:4111).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createOpenAI } from '@ai-sdk/openai';
import { tool } from 'ai';
import { z } from 'zod';

export const BASE_URL = (process.env.GATEWAY_BASE_URL ?? '').replace(/\/+$/, '');
export const MASTRA_URL = (process.env.MASTRA_URL ?? '').replace(/\/+$/, '');
assert.ok(BASE_URL, 'GATEWAY_BASE_URL must be set (e.g. http://127.0.0.1:8080/v1)');

export const SUPPORT = 'support-agent'; // "echo: <text>"; Mastra runs its get_weather tool on CALL_TOOL
export const ECHO = 'echo-agent'; // "you said: <text>"; no tools of its own
export const WEATHER_ANSWER = 'tool get_weather returned';
export const TIME_ANSWER = 'tool get_time returned';
export const FIXED_TIME = '12:34 in UTC (fixed)';
export const CALL_CLIENT_GET_TIME = 'CALL_CLIENT get_time {"tz":"UTC"}';

// Per test (node:test `timeout`) and per framework call (abortSignal), so a hung stream fails.
export const TEST_TIMEOUT = 40_000;
export const CALL_TIMEOUT = 30_000;
// (An Error as the abort reason: AbortSignal.timeout's DOMException prints as {} in the report.)
export function callOptions() {
  const ctl = new AbortController();
  setTimeout(() => ctl.abort(new Error(`the call did not finish within ${CALL_TIMEOUT} ms (hung?)`)), CALL_TIMEOUT).unref();
  return { maxRetries: 0, abortSignal: ctl.signal };
}

export const openai = createOpenAI({ baseURL: BASE_URL, apiKey: 'sk-frameworks-test-key' });

export const tag = () => randomBytes(5).toString('hex');

// Every content part of every step of a generateText / streamText result.
export const allParts = steps => steps.flatMap(s => s.content ?? []);

// No `error` part (a failed request or stream) and no `tool-error` part (e.g. a tool call the
// SDK cannot run); the message names each, one line.
export function assertNoToolErrors(parts) {
  const bad = parts.filter(p => p.type === 'tool-error' || p.type === 'error');
  if (bad.length) {
    const what = bad.map(p => `${p.type}${p.toolName ? ` (${p.toolName})` : ''}: ${p.error?.message ?? p.error}`);
    assert.fail(what.join(' | '));
  }
}

// Drain a streamText result's fullStream; returns its parts (`error` parts included, for
// assertNoToolErrors). An `abort` part (the call's abortSignal timed out) fails the test here,
// with a readable message (the DOMException the result promises then reject with prints as {}).
export async function drain(result) {
  const parts = [];
  for await (const part of result.fullStream) parts.push(part);
  if (parts.some(p => p.type === 'abort')) {
    assert.fail(`the stream was aborted after ${CALL_TIMEOUT} ms (hung?); parts: ${parts.map(p => p.type).join(',')}`);
  }
  return parts;
}

export const brief = v => JSON.stringify(v, (k, x) => (k === 'rawValue' || k === 'request' ? undefined : x)).slice(0, 1500);

// The client-side tool: records each call's tz in `calls` and returns the fixed string.
export function getTimeTool(calls) {
  return tool({
    description: 'Return the current time in a time zone.',
    inputSchema: z.object({ tz: z.string() }),
    execute: async ({ tz }) => {
      calls.push(tz);
      return FIXED_TIME;
    },
  });
}

// The mock answers `tool get_time returned: <JSON.stringify(output)>`.
export function assertTimeAnswer(text) {
  assert.match(text, new RegExp(TIME_ANSWER));
  assert.ok(text.includes(FIXED_TIME), `the answer does not carry the tool's output: ${text}`);
}
