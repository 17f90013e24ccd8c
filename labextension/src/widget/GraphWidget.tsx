/**
 * The notebook graph widget's React view: the panel's GraphView fed by the
 * widget model's traits (`graph`, `states`, `now`, `selected`, `height`).
 */
import * as React from 'react';

import { clockOffset } from '../clock';
import { GraphView } from '../graph/GraphView';
import type { INodeState, NodeStates } from '../graph/states';
import { useNow } from '../hooks';
import type { ITrans } from '../i18n';
import type { IGraph } from '../model';
import { isActive } from '../model';

/** The traits synced from Python, as the view reads them. */
export interface IGraphTraits {
  graph: IGraph;
  states: NodeStates;
  /** The server's time when the states were sent (ISO 8601). */
  now: string;
  selected: string;
  height: number;
}

export const DEFAULT_HEIGHT = 320;

function isRecord(value: unknown): value is { [key: string]: unknown } {
  return !!value && typeof value === 'object' && !Array.isArray(value);
}

/** Traits from the model's values, checked (a bad value reads as empty). */
export function readTraits(get: (name: string) => unknown): IGraphTraits {
  const graph = get('graph');
  const states = get('states');
  const now = get('now');
  const selected = get('selected');
  const height = get('height');
  const nodes =
    isRecord(graph) && Array.isArray(graph.nodes) ? graph.nodes : [];
  const edges =
    isRecord(graph) && Array.isArray(graph.edges) ? graph.edges : [];
  const checked: NodeStates = {};
  if (isRecord(states)) {
    for (const [id, state] of Object.entries(states)) {
      if (isRecord(state) && typeof state.status === 'string') {
        checked[id] = state as unknown as INodeState;
      }
    }
  }
  return {
    graph: { nodes, edges } as IGraph,
    states: checked,
    now: typeof now === 'string' ? now : '',
    selected: typeof selected === 'string' ? selected : '',
    height: typeof height === 'number' && height > 0 ? height : DEFAULT_HEIGHT
  };
}

export function GraphWidget(props: {
  traits: IGraphTraits;
  trans: ITrans;
  onSelect: (id: string) => void;
}): JSX.Element {
  const { traits } = props;
  // the server's clock, ticking locally between updates
  const offset = React.useMemo(
    () => clockOffset(traits.now) ?? 0,
    [traits.now]
  );
  const running = Object.values(traits.states).some(s => isActive(s.status));
  const now = useNow(running, offset);
  return (
    <div className="jp-pipelines-graph-widget-body">
      <GraphView
        graph={traits.graph}
        states={traits.states}
        now={now}
        selected={traits.selected || null}
        onSelect={props.onSelect}
        trans={props.trans}
        height={traits.height}
      />
    </div>
  );
}
