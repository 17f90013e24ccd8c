/**
 * An execution's graph drawn as SVG: nodes coloured by status, edges
 * labelled with the output they carry, zoom (wheel), pan (drag) and Fit.
 * Used by the side panel, the main-area view and the notebook widget.
 */
import * as React from 'react';

import { formatDuration, liveDuration } from '../format';
import { ITrans, englishTrans } from '../i18n';
import type { IGraph } from '../model';
import {
  IGraphLayout,
  INodeBox,
  IViewTransform,
  SIZES,
  cachedLayout,
  edgePathData,
  fitTransform,
  layoutKey,
  zoomAt
} from './layout';
import type { INodeState, NodeStates } from './states';

export interface IGraphViewProps {
  graph: IGraph | null | undefined;
  states: NodeStates;
  /** The server's time now, in ms (elapsed times of running nodes). */
  now: number;
  selected: string | null;
  onSelect?: (id: string) => void;
  trans?: ITrans;
  /** The CSS height of the view (default: 100% of its parent). */
  height?: number | string;
}

/** Below this zoom the edge labels are left out (unreadable anyway). */
const LABELS_MIN_ZOOM = 0.45;
/** The first view: fitted, but not smaller than this (readable). */
const FIRST_MIN_ZOOM = 0.5;

/** The label cut to what fits in a box of that width. */
export function fitLabel(label: string, width: number): string {
  const max = Math.max(
    3,
    Math.floor((width - 2 * SIZES.padding + 4) / SIZES.charWidth)
  );
  return label.length <= max ? label : `${label.slice(0, max - 1)}…`;
}

/** The second line of an operation node: its time or status. */
export function nodeCaption(
  state: INodeState | undefined,
  now: number,
  trans: ITrans = englishTrans
): string {
  const status = state?.status ?? 'pending';
  if (status === 'running' || status === 'success') {
    const duration = formatDuration(
      liveDuration(
        {
          started: state?.started ?? null,
          ended: state?.ended ?? null,
          duration: state?.duration ?? null
        },
        now
      )
    );
    if (duration) {
      return status === 'running' ? trans.__('running %1', duration) : duration;
    }
  }
  return statusText(status, trans);
}

function statusText(status: string, trans: ITrans): string {
  switch (status) {
    case 'pending':
      return trans.__('pending');
    case 'queued':
      return trans.__('queued');
    case 'running':
      return trans.__('running');
    case 'success':
      return trans.__('success');
    case 'failed':
      return trans.__('failed');
    case 'canceled':
      return trans.__('canceled');
    case 'skipped':
      return trans.__('skipped');
    default:
      return status;
  }
}

/** The tooltip of a node: label, kind, status and error. */
export function nodeTitle(
  box: INodeBox,
  state: INodeState | undefined,
  trans: ITrans = englishTrans
): string {
  const lines = [box.label];
  if (box.label !== box.id) {
    lines[0] += ` (${box.id})`;
  }
  if (state) {
    lines.push(statusText(state.status, trans));
  }
  if (state?.error) {
    lines.push(state.error);
  }
  return lines.join('\n');
}

function Node(props: {
  box: INodeBox;
  state: INodeState | undefined;
  now: number;
  selected: boolean;
  trans: ITrans;
  onSelect: (id: string) => void;
}): JSX.Element {
  const { box, state, trans } = props;
  const status = state?.status ?? 'pending';
  const operation = box.kind === 'operation';
  const left = box.x - box.width / 2;
  const top = box.y - box.height / 2;
  const classes = [
    'jp-pipelines-gnode',
    `jp-pipelines-gnode-${box.kind}`,
    `jp-pipelines-gnode-${status}`
  ];
  if (props.selected) {
    classes.push('jp-mod-selected');
  }
  return (
    <g
      className={classes.join(' ')}
      data-node={box.id}
      data-status={status}
      transform={`translate(${left},${top})`}
      role="button"
      tabIndex={0}
      aria-label={box.label}
      aria-pressed={props.selected}
      onClick={() => props.onSelect(box.id)}
      onKeyDown={ev => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          props.onSelect(box.id);
        }
      }}
    >
      <title>{nodeTitle(box, state, trans)}</title>
      <rect
        width={box.width}
        height={box.height}
        rx={operation ? 4 : box.height / 2}
      />
      <text
        className="jp-pipelines-gnode-label"
        x={box.width / 2}
        y={operation ? 16 : box.height / 2 + 4}
      >
        {fitLabel(box.label, box.width)}
      </text>
      {operation && (
        <text className="jp-pipelines-gnode-caption" x={box.width / 2} y={31}>
          {nodeCaption(state, props.now, trans)}
        </text>
      )}
    </g>
  );
}

function Edges(props: {
  layout: IGraphLayout;
  marker: string;
  labels: boolean;
}): JSX.Element {
  return (
    <g className="jp-pipelines-gedges">
      {props.layout.edges.map(e => (
        <g key={e.id} className="jp-pipelines-gedge" data-output={e.label}>
          <title>{e.input ? `${e.label} → ${e.input}` : e.label}</title>
          <path
            d={edgePathData(e.points)}
            markerEnd={`url(#${props.marker})`}
          />
          {props.labels && e.label && (
            <text
              className="jp-pipelines-gedge-label"
              x={e.labelX}
              y={e.labelY + 4}
            >
              {e.label}
            </text>
          )}
        </g>
      ))}
    </g>
  );
}

function viewportOf(el: HTMLElement | null): { width: number; height: number } {
  return {
    width: el?.clientWidth || 300,
    height: el?.clientHeight || 200
  };
}

export function GraphView(props: IGraphViewProps): JSX.Element {
  const trans = props.trans ?? englishTrans;
  const key = layoutKey(props.graph);
  const layout = React.useMemo(() => cachedLayout(props.graph), [key]);
  const ref = React.useRef<HTMLDivElement>(null);
  const [t, setT] = React.useState<IViewTransform>({ k: 1, x: 0, y: 0 });
  const touched = React.useRef(false);
  const drag = React.useRef<{
    x: number;
    y: number;
    t: IViewTransform;
    moved: boolean;
  } | null>(null);
  const suppressClick = React.useRef(false);
  const marker = `jp-pipelines-arrow-${React.useId().replace(/[^A-Za-z0-9_-]/g, '')}`;

  const fit = React.useCallback(
    (first: boolean) => {
      setT(
        fitTransform(
          layout,
          viewportOf(ref.current),
          first ? FIRST_MIN_ZOOM : 0.05,
          first ? 1.25 : 1.5
        )
      );
    },
    [layout]
  );

  // a new graph: the first view, fitted
  React.useLayoutEffect(() => {
    touched.current = false;
    fit(true);
  }, [fit]);

  // follow the size of the view until the user zooms or pans
  React.useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') {
      return;
    }
    const observer = new ResizeObserver(() => {
      if (!touched.current) {
        fit(true);
      }
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, [fit]);

  // wheel zoom: a native listener, so that the page does not scroll
  React.useEffect(() => {
    const el = ref.current;
    if (!el) {
      return;
    }
    const onWheel = (ev: WheelEvent) => {
      ev.preventDefault();
      touched.current = true;
      const rect = el.getBoundingClientRect();
      const scale = ev.deltaMode === 1 ? 0.05 : 0.002;
      const factor = Math.exp(-ev.deltaY * scale);
      setT(current =>
        zoomAt(current, factor, ev.clientX - rect.left, ev.clientY - rect.top)
      );
    };
    el.addEventListener('wheel', onWheel, { passive: false });
    return () => el.removeEventListener('wheel', onWheel);
  }, []);

  const zoomBy = (factor: number) => {
    touched.current = true;
    const { width, height } = viewportOf(ref.current);
    setT(current => zoomAt(current, factor, width / 2, height / 2));
  };

  const onPointerDown = (ev: React.PointerEvent<HTMLDivElement>) => {
    if (ev.button !== 0) {
      return;
    }
    drag.current = { x: ev.clientX, y: ev.clientY, t, moved: false };
    suppressClick.current = false;
  };
  const onPointerMove = (ev: React.PointerEvent<HTMLDivElement>) => {
    const d = drag.current;
    if (!d) {
      return;
    }
    const dx = ev.clientX - d.x;
    const dy = ev.clientY - d.y;
    if (!d.moved && Math.abs(dx) + Math.abs(dy) < 4) {
      return;
    }
    if (!d.moved) {
      d.moved = true;
      ref.current?.setPointerCapture?.(ev.pointerId);
    }
    touched.current = true;
    setT({ ...d.t, x: d.t.x + dx, y: d.t.y + dy });
  };
  const onPointerUp = (ev: React.PointerEvent<HTMLDivElement>) => {
    const d = drag.current;
    drag.current = null;
    if (d?.moved) {
      suppressClick.current = true;
      ref.current?.releasePointerCapture?.(ev.pointerId);
    }
  };
  const select = (id: string) => {
    if (suppressClick.current) {
      suppressClick.current = false;
      return;
    }
    props.onSelect?.(id);
  };

  const height = props.height ?? '100%';
  return (
    <div className="jp-pipelines-graph" style={{ height }}>
      <div className="jp-pipelines-graph-tools">
        <button
          className="jp-pipelines-graph-fit jp-Button jp-mod-minimal"
          title={trans.__('Fit the graph in the view')}
          onClick={() => {
            touched.current = false;
            fit(false);
          }}
        >
          {trans.__('Fit')}
        </button>
        <button
          className="jp-pipelines-graph-zoom-in jp-Button jp-mod-minimal"
          title={trans.__('Zoom in')}
          aria-label={trans.__('Zoom in')}
          onClick={() => zoomBy(1.25)}
        >
          +
        </button>
        <button
          className="jp-pipelines-graph-zoom-out jp-Button jp-mod-minimal"
          title={trans.__('Zoom out')}
          aria-label={trans.__('Zoom out')}
          onClick={() => zoomBy(0.8)}
        >
          −
        </button>
      </div>
      <div
        ref={ref}
        className="jp-pipelines-graph-viewport"
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={onPointerUp}
      >
        {layout.nodes.length === 0 ? (
          <div className="jp-pipelines-muted">{trans.__('No graph.')}</div>
        ) : (
          <svg
            className="jp-pipelines-graph-svg"
            width="100%"
            height="100%"
            role="group"
            aria-label={trans.__('Pipeline graph')}
          >
            <defs>
              <marker
                id={marker}
                viewBox="0 0 10 10"
                refX="9"
                refY="5"
                markerWidth="7"
                markerHeight="7"
                orient="auto-start-reverse"
              >
                <path d="M0,0 L10,5 L0,10 z" className="jp-pipelines-garrow" />
              </marker>
            </defs>
            <g
              className="jp-pipelines-graph-content"
              transform={`translate(${t.x},${t.y}) scale(${t.k})`}
            >
              <Edges
                layout={layout}
                marker={marker}
                labels={t.k >= LABELS_MIN_ZOOM}
              />
              {layout.nodes.map(box => (
                <Node
                  key={box.id}
                  box={box}
                  state={props.states[box.id]}
                  now={props.now}
                  selected={box.id === props.selected}
                  trans={trans}
                  onSelect={select}
                />
              ))}
            </g>
          </svg>
        )}
      </div>
    </div>
  );
}
