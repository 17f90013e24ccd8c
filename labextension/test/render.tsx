/**
 * Render React elements into a jsdom container (tests with
 * `@jest-environment jsdom`), each step inside act().
 */
import * as React from 'react';
import { act } from 'react';
import { Root, createRoot } from 'react-dom/client';

import { deserialize, serialize } from 'v8';

// jest's jsdom has no structuredClone (browsers and node do; dagre uses it)
if (typeof globalThis.structuredClone !== 'function') {
  globalThis.structuredClone = <T,>(value: T): T =>
    deserialize(serialize(value)) as T;
}

(
  globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }
).IS_REACT_ACT_ENVIRONMENT = true;

export interface IRendered {
  container: HTMLElement;
  rerender(element: React.ReactElement): void;
  unmount(): void;
}

export function render(element: React.ReactElement): IRendered {
  const container = document.createElement('div');
  document.body.appendChild(container);
  let root: Root;
  act(() => {
    root = createRoot(container);
    root.render(element);
  });
  return {
    container,
    rerender(next) {
      act(() => root.render(next));
    },
    unmount() {
      act(() => root.unmount());
      container.remove();
    }
  };
}

/** Click an element (inside act). */
export function click(element: Element | null): void {
  if (!element) {
    throw new Error('nothing to click');
  }
  act(() => {
    element.dispatchEvent(new MouseEvent('click', { bubbles: true }));
  });
}

/** Let pending promises settle (inside act). */
export async function settle(): Promise<void> {
  await act(async () => {
    await new Promise(resolve => setTimeout(resolve, 0));
  });
}
