/**
 * The state of each node of an execution's graph, from its jobs: operation
 * nodes take their job's; input nodes are done once a reader started;
 * output nodes follow the operation that writes them.
 */
import type { IGraph, IJob } from '../model';

/** What the graph shows of a node (also what the notebook widget syncs). */
export interface INodeState {
  status: string;
  started?: string | null;
  ended?: string | null;
  error?: string | null;
  duration?: number | null;
}

export type NodeStates = { [id: string]: INodeState };

const NOT_STARTED = new Set(['pending', 'queued']);

export function nodeStates(
  graph: IGraph | null | undefined,
  jobs: readonly IJob[]
): NodeStates {
  const states: NodeStates = {};
  const byOp = new Map(jobs.map(j => [j.op, j]));
  for (const job of jobs) {
    states[job.op] = {
      status: String(job.status),
      started: job.started,
      ended: job.ended,
      error: job.error,
      duration: job.duration
    };
  }
  if (!graph) {
    return states;
  }
  const kinds = new Map(graph.nodes.map(n => [n.id, n.kind]));
  for (const n of graph.nodes) {
    if (n.kind === 'operation' || states[n.id]) {
      continue;
    }
    if (n.kind === 'input') {
      const readers = graph.edges
        .filter(e => e.source === n.id)
        .map(e => byOp.get(e.target));
      const read = readers.some(j => j && !NOT_STARTED.has(String(j.status)));
      states[n.id] = { status: read ? 'success' : 'pending' };
    } else if (n.kind === 'output') {
      const writer = graph.edges
        .filter(e => e.target === n.id && kinds.get(e.source) === 'operation')
        .map(e => byOp.get(e.source))
        .find(Boolean);
      const status = writer ? String(writer.status) : 'pending';
      states[n.id] = {
        status:
          status === 'success'
            ? 'success'
            : status === 'failed' ||
                status === 'canceled' ||
                status === 'skipped'
              ? 'skipped'
              : 'pending'
      };
    }
  }
  return states;
}

/**
 * The node to show when none is chosen: the first failed job, else a
 * running one, else none.
 */
export function defaultNode(jobs: readonly IJob[]): string | null {
  const failed = jobs.find(j => j.status === 'failed');
  if (failed) {
    return failed.op;
  }
  const running = jobs.find(j => j.status === 'running');
  return running ? running.op : null;
}
