// The screens, in menu order. A screen: {path, title, view, hidden?}; `view`
// gets `arg`, the route's part after its path (#/plate/AB123 → 'AB123').
import { Live } from './live.js';
import { Search } from './search.js';
import { PlatePage } from './plate.js';
import { Cameras } from './cameras.js';
import { Statistics } from './stats.js';
import { Admin } from './admin.js';
import { Alerts } from './alerts.js';
import { Lists } from './lists.js';

export const SCREENS = [
  { path: 'live', title: 'Live', view: Live },
  { path: 'search', title: 'Search', view: Search },
  { path: 'alerts', title: 'Alerts', view: Alerts },
  { path: 'lists', title: 'Lists', view: Lists },
  { path: 'plate', title: 'Plate', view: PlatePage, hidden: true },
  { path: 'cameras', title: 'Cameras', view: Cameras },
  { path: 'stats', title: 'Statistics', view: Statistics },
  { path: 'admin', title: 'Admin', view: Admin },
];
