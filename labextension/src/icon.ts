import { LabIcon } from '@jupyterlab/ui-components';

/** Three operations of a pipeline: one feeding two. */
const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="2" y="9" width="6" height="6" rx="1.5"/>
    <rect x="16" y="3" width="6" height="6" rx="1.5"/>
    <rect x="16" y="15" width="6" height="6" rx="1.5"/>
    <path d="M8 11h3.2c.7 0 1.3-.4 1.6-1l1.1-2.2c.3-.6.9-1 1.6-1H16v1.6h-.5l-1.1 2.2c-.5 1-1.4 1.6-2.5 1.6H8z"/>
    <path d="M8 13v1.2h3.9l1.1 2.2c.5 1 1.4 1.6 2.5 1.6h.5v-1.6h-.5l-1.1-2.2c-.3-.6-.9-1.2-1.6-1.2z"/>
  </g>
</svg>`;

export const pipelinesIcon = new LabIcon({
  name: 'jupyter-pipelines:executions',
  svgstr
});
