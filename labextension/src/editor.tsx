/**
 * An editor of an operation's source. In JupyterLab it is the app's
 * CodeMirror editor (see `cmeditor.ts`, given through the context); without
 * one, a plain textarea.
 */
import * as React from 'react';

import { useServices } from './context';

export interface IEditorHandle {
  dispose(): void;
}

/** Mounts a code editor in a host element. */
export interface IEditorFactory {
  create(
    host: HTMLElement,
    options: {
      value: string;
      mimeType: string;
      onChange: (value: string) => void;
    }
  ): IEditorHandle;
}

/**
 * An uncontrolled source editor: it starts from `initial` (give it a new
 * `key` to start again) and reports each change.
 */
export function SourceEditor(props: {
  initial: string;
  onChange: (value: string) => void;
  label: string;
}): JSX.Element {
  const { editorFactory } = useServices();
  const host = React.useRef<HTMLDivElement>(null);
  const onChange = React.useRef(props.onChange);
  onChange.current = props.onChange;
  const initial = React.useRef(props.initial);

  // A layout effect: its clean-up runs before React removes the host from the page, so the
  // editor widget is detached while it is still attached.
  React.useLayoutEffect(() => {
    if (!editorFactory || !host.current) {
      return;
    }
    const handle = editorFactory.create(host.current, {
      value: initial.current,
      mimeType: 'text/x-python',
      onChange: value => onChange.current(value)
    });
    return () => handle.dispose();
  }, [editorFactory]);

  if (editorFactory) {
    return (
      <div
        ref={host}
        className="jp-pipelines-editor"
        aria-label={props.label}
      />
    );
  }
  return (
    <textarea
      className="jp-pipelines-editor jp-pipelines-editor-plain"
      aria-label={props.label}
      spellCheck={false}
      defaultValue={props.initial}
      rows={Math.min(30, Math.max(6, props.initial.split('\n').length + 1))}
      onChange={ev => props.onChange(ev.target.value)}
    />
  );
}
