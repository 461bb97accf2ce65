// Group chat (issue 17): POST /v1/chat/completions through the AI SDK's Chat Completions model
// (openai.chat): plain turns, streaming, a client tool with execute, and a turn in which
// Mastra ran its own tool (the SDK must see only the answer).
// Run: GATEWAY_BASE_URL=http://127.0.0.1:PORT/v1 node --test chat.test.mjs
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateText, streamText, stepCountIs } from 'ai';
import {
  openai, ECHO, SUPPORT, WEATHER_ANSWER, CALL_CLIENT_GET_TIME, TEST_TIMEOUT, callOptions, tag, allParts,
  assertNoToolErrors, drain, brief, getTimeTool, assertTimeAnswer,
} from './helpers.mjs';

describe('chat (issue 17)', () => {
  test('ai-sdk chat generateText: plain text turn', { timeout: TEST_TIMEOUT }, async () => {
    const word = tag();
    const result = await generateText({ model: openai.chat(ECHO), prompt: `hello ${word}`, ...callOptions() });
    assert.equal(result.text, `you said: hello ${word}`);
    assert.equal(result.finishReason, 'stop');
  });

  test('ai-sdk chat streamText: plain text turn', { timeout: TEST_TIMEOUT }, async () => {
    const word = tag();
    const result = streamText({ model: openai.chat(ECHO), prompt: `hello ${word}`, ...callOptions() });
    const parts = await drain(result);
    assertNoToolErrors(parts);
    assert.equal(await result.text, `you said: hello ${word}`);
    assert.equal(await result.finishReason, 'stop');
  });

  test('ai-sdk chat generateText: client tool with execute', { timeout: TEST_TIMEOUT }, async () => {
    const calls = [];
    const result = await generateText({
      model: openai.chat(ECHO),
      prompt: CALL_CLIENT_GET_TIME,
      tools: { get_time: getTimeTool(calls) },
      stopWhen: stepCountIs(3),
      ...callOptions(),
    });
    assertNoToolErrors(allParts(result.steps));
    assert.deepEqual(calls, ['UTC']);
    assert.equal(result.steps.length, 2, brief(result.steps.map(s => s.finishReason)));
    assert.equal(result.finishReason, 'stop');
    assertTimeAnswer(result.text);
  });

  test('ai-sdk chat streamText: client tool with execute', { timeout: TEST_TIMEOUT }, async () => {
    const calls = [];
    const result = streamText({
      model: openai.chat(ECHO),
      prompt: CALL_CLIENT_GET_TIME,
      tools: { get_time: getTimeTool(calls) },
      stopWhen: stepCountIs(3),
      ...callOptions(),
    });
    const parts = await drain(result);
    assertNoToolErrors(parts);
    assert.deepEqual(calls, ['UTC']);
    assert.equal(await result.finishReason, 'stop');
    assertTimeAnswer(await result.text);
  });

  test('ai-sdk chat generateText: server tool turn shows only the answer', { timeout: TEST_TIMEOUT }, async () => {
    const result = await generateText({ model: openai.chat(SUPPORT), prompt: 'CALL_TOOL Rome', ...callOptions() });
    const parts = allParts(result.steps);
    assertNoToolErrors(parts);
    assert.equal(result.finishReason, 'stop', brief(parts));
    assert.equal(result.steps.length, 1);
    assert.match(result.text, new RegExp(WEATHER_ANSWER));
  });
});
