/**
 * jsdom (the environment of the component tests) has no TextEncoder/TextDecoder,
 * which browsers and node have: take node's.
 */
import { TextDecoder, TextEncoder } from 'util';

if (typeof globalThis.TextEncoder === 'undefined') {
  Object.assign(globalThis, { TextEncoder, TextDecoder });
}
