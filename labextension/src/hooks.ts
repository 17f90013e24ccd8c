/**
 * React hooks shared by the panel's components.
 */
import { useEffect, useState, useSyncExternalStore } from 'react';

import { serverTime } from './clock';
import type { IState, PipelinesStore } from './store';

/** The store's current state; re-renders on every change. */
export function useStoreState(store: PipelinesStore): IState {
  return useSyncExternalStore(
    listener => store.subscribe(listener),
    () => store.state
  );
}

/**
 * The server's current time (the client's clock plus `offset`, see
 * clock.ts), updated every second while `ticking` (something runs) and
 * every 30 seconds otherwise (relative times). Local only: no request.
 */
export function useNow(ticking: boolean, offset = 0): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), ticking ? 1000 : 30000);
    return () => clearInterval(timer);
  }, [ticking]);
  return serverTime(offset, now);
}
