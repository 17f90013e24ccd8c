/**
 * Small presentational components shared by the list and the details.
 */
import * as React from 'react';

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
