// Scaffolding (session 14): replaced by the page itself before issue 19 closes.
import { h } from '../js/dom.js';
import { startPage } from '../js/layout.js';

startPage('Admin').append(h('p', {}, 'This page is being built.'));
