import type { RoutingSnapshot } from './snapshot.js';

type Listener = (snapshot: RoutingSnapshot) => void;

/** Who hears about new snapshots: the data plane, the admin API, requests waiting for a server. */
export class SnapshotListeners {
  private readonly listeners: Listener[] = [];

  /** Calls `listener` with every new snapshot; returns a function that stops it. */
  subscribe(listener: Listener): () => void {
    this.listeners.push(listener);
    return () => {
      const index = this.listeners.indexOf(listener);
      if (index >= 0) this.listeners.splice(index, 1);
    };
  }

  /** Resolves with the next snapshot, or undefined after `timeoutMs`. */
  nextSnapshot(timeoutMs: number): Promise<RoutingSnapshot | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        unsubscribe();
        resolve(undefined);
      }, timeoutMs);
      const unsubscribe = this.subscribe((snapshot) => {
        clearTimeout(timer);
        unsubscribe();
        resolve(snapshot);
      });
    });
  }

  notify(snapshot: RoutingSnapshot): void {
    for (const listener of [...this.listeners]) listener(snapshot);
  }
}
