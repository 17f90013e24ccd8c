/** The ipywidgets module of the notebook graph widget. */
export const MODULE_NAME = 'jupyter-pipelines';
export const MODULE_VERSION = '0.1.0';
