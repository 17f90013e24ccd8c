/**
 * The ipywidgets model and view of the notebook graph widget (module
 * `jupyter-pipelines`). Loaded only when ipywidgets is there (plugin.ts).
 */
import * as React from 'react';
import { Root, createRoot } from 'react-dom/client';

import { DOMWidgetModel, DOMWidgetView } from '@jupyter-widgets/base';

import { ITrans, englishTrans } from '../i18n';
import { MODULE_NAME, MODULE_VERSION } from './constants';
import { DEFAULT_HEIGHT, GraphWidget, readTraits } from './GraphWidget';

export class PipelineGraphModel extends DOMWidgetModel {
  defaults() {
    return {
      ...super.defaults(),
      _model_name: PipelineGraphModel.model_name,
      _model_module: PipelineGraphModel.model_module,
      _model_module_version: PipelineGraphModel.model_module_version,
      _view_name: PipelineGraphModel.view_name,
      _view_module: PipelineGraphModel.view_module,
      _view_module_version: PipelineGraphModel.view_module_version,
      graph: { nodes: [], edges: [] },
      states: {},
      now: '',
      selected: '',
      height: DEFAULT_HEIGHT
    };
  }

  static model_name = 'PipelineGraphModel';
  static model_module = MODULE_NAME;
  static model_module_version = MODULE_VERSION;
  static view_name = 'PipelineGraphView';
  static view_module = MODULE_NAME;
  static view_module_version = MODULE_VERSION;
}

/** Draws the graph with GraphView; a click selects a node (synced back). */
export class PipelineGraphView extends DOMWidgetView {
  /** The strings' translation (set by `widgetClasses`). */
  static trans: ITrans = englishTrans;

  render(): void {
    this.el.classList.add('jp-pipelines-graph-widget');
    this._root = createRoot(this.el);
    this.listenTo(this.model, 'change', () => this._draw());
    this._draw();
  }

  remove(): void {
    this._root?.unmount();
    this._root = null;
    return super.remove();
  }

  private _draw(): void {
    const traits = readTraits(name => this.model.get(name));
    this._root?.render(
      <GraphWidget
        traits={traits}
        trans={PipelineGraphView.trans}
        onSelect={id => {
          this.model.set('selected', id);
          this.model.save_changes();
        }}
      />
    );
  }

  private _root: Root | null = null;
}

/** The module's classes, drawing with the app's translation. */
export function widgetClasses(trans: ITrans): {
  PipelineGraphModel: typeof PipelineGraphModel;
  PipelineGraphView: typeof PipelineGraphView;
} {
  PipelineGraphView.trans = trans;
  return { PipelineGraphModel, PipelineGraphView };
}
