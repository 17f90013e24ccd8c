/**
 * Previews of an operation's outputs (value, table, array, image, text) and
 * the figures it drew. Figures are fetched with the server's auth (an
 * `<img src>` carries no token) and shown from blob URLs.
 */
import * as React from 'react';

import { useServices, useTrans } from './context';
import type { IFigure, IPreview } from './model';

function cell(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'string') {
    return value;
  }
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function Truncated(props: { shown: boolean }): JSX.Element | null {
  const trans = useTrans();
  return props.shown ? (
    <div className="jp-pipelines-truncated">{trans.__('truncated')}</div>
  ) : null;
}

/** An output's preview, by kind; nothing for an unknown kind. */
export function OutputPreview(props: {
  preview: IPreview | null | undefined;
}): JSX.Element | null {
  const trans = useTrans();
  const p = props.preview;
  if (!p || typeof p !== 'object') {
    return null;
  }
  const truncated = !!p.truncated;
  switch (p.kind) {
    case 'value':
    case 'text':
      return (
        <div className="jp-pipelines-preview" data-kind={p.kind}>
          <pre className="jp-pipelines-preview-text">{p.text}</pre>
          <Truncated shown={truncated} />
        </div>
      );
    case 'table': {
      const columns = Array.isArray(p.columns) ? p.columns : [];
      const rows = Array.isArray(p.rows) ? p.rows : [];
      return (
        <div className="jp-pipelines-preview" data-kind="table">
          {Array.isArray(p.shape) && (
            <div className="jp-pipelines-preview-shape">
              {trans.__('%1 rows × %2 columns', p.shape[0], p.shape[1])}
            </div>
          )}
          <div className="jp-pipelines-preview-scroll">
            <table className="jp-pipelines-preview-table">
              <thead>
                <tr>
                  {columns.map((c, i) => (
                    <th key={i}>{cell(c)}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map((row, i) => (
                  <tr key={i}>
                    {(Array.isArray(row) ? row : [row]).map((v, j) => (
                      <td key={j}>{cell(v)}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Truncated shown={truncated} />
        </div>
      );
    }
    case 'array':
      return (
        <div className="jp-pipelines-preview" data-kind="array">
          <div className="jp-pipelines-preview-shape">
            {trans.__(
              'shape (%1), dtype %2',
              (Array.isArray(p.shape) ? p.shape : []).join(', '),
              p.dtype
            )}
          </div>
          <pre className="jp-pipelines-preview-text">{p.text}</pre>
          <Truncated shown={truncated} />
        </div>
      );
    case 'image':
      return (
        <div className="jp-pipelines-preview" data-kind="image">
          <img
            className="jp-pipelines-thumbnail"
            alt={trans.__('Output preview')}
            src={`data:${p.mime || 'image/png'};base64,${p.data}`}
          />
          <Truncated shown={truncated} />
        </div>
      );
    default:
      return null;
  }
}

/** One figure, fetched with the server's auth into a blob URL. */
export function Figure(props: { figure: IFigure }): JSX.Element {
  const { fetchBlob, trans } = useServices();
  const [src, setSrc] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const url = props.figure.url;
  React.useEffect(() => {
    let href: string | null = null;
    let live = true;
    setSrc(null);
    setError(null);
    if (!fetchBlob) {
      setError(trans.__('Figures cannot be loaded here.'));
      return;
    }
    fetchBlob(url).then(
      blob => {
        if (live) {
          href = URL.createObjectURL(blob);
          setSrc(href);
        }
      },
      (reason: unknown) => {
        if (live) {
          setError(reason instanceof Error ? reason.message : String(reason));
        }
      }
    );
    return () => {
      live = false;
      if (href) {
        URL.revokeObjectURL(href);
      }
    };
  }, [url, fetchBlob]);
  const label = trans.__('Figure %1', props.figure.index + 1);
  return (
    <figure className="jp-pipelines-figure" data-index={props.figure.index}>
      {src ? (
        <a href={src} target="_blank" rel="noreferrer" title={label}>
          <img className="jp-pipelines-thumbnail" alt={label} src={src} />
        </a>
      ) : (
        <div className="jp-pipelines-muted">
          {error ? `${label}: ${error}` : trans.__('Loading %1…', label)}
        </div>
      )}
    </figure>
  );
}

export function Figures(props: {
  figures: readonly IFigure[] | undefined;
}): JSX.Element | null {
  const figures = props.figures ?? [];
  if (!figures.length) {
    return null;
  }
  return (
    <div className="jp-pipelines-figures">
      {figures.map(f => (
        <Figure key={`${f.index}:${f.url}`} figure={f} />
      ))}
    </div>
  );
}
