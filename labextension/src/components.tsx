/**
 * Small presentational components shared by the list and the details.
 */
import * as React from 'react';

import { useTrans } from './context';
import { formatBytes } from './format';
import { ILogBuffer, logCut } from './logbuffer';

/** A status badge; its text is the status (tests read it). */
export function Status(props: { status: string }): JSX.Element {
  return (
    <span
      className={`jp-pipelines-status jp-pipelines-status-${props.status}`}
      data-status={props.status}
    >
      {props.status}
    </span>
  );
}

/** An error or information line. */
export function Alert(props: {
  kind: 'error' | 'info';
  children: React.ReactNode;
}): JSX.Element {
  return (
    <div
      className={`jp-pipelines-alert jp-pipelines-alert-${props.kind}`}
      role={props.kind === 'error' ? 'alert' : 'status'}
    >
      {props.children}
    </div>
  );
}

/** A log that keeps itself scrolled to the end while it grows. */
export function Log(props: { text: string }): JSX.Element {
  const ref = React.useRef<HTMLPreElement>(null);
  const stick = React.useRef(true);
  React.useLayoutEffect(() => {
    const el = ref.current;
    if (el && stick.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [props.text]);
  return (
    <pre
      ref={ref}
      className="jp-pipelines-log"
      onScroll={() => {
        const el = ref.current;
        if (el) {
          stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
        }
      }}
    >
      {props.text}
    </pre>
  );
}

/** A capped log, saying how much of its start was cut. */
export function LogView(props: { log: ILogBuffer | undefined }): JSX.Element {
  const trans = useTrans();
  const log = props.log;
  const cut = log ? logCut(log) : 0;
  return (
    <>
      {cut > 0 && (
        <div className="jp-pipelines-log-cut" data-cut={cut}>
          {trans.__('%1 of older output not shown', formatBytes(cut))}
        </div>
      )}
      <Log text={log?.text ?? ''} />
    </>
  );
}
