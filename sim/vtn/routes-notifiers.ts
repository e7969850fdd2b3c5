import { notifierTopicsResponseSchema, notifiersResponseSchema, type NotifiersResponse } from '../../agent/grid/openadr/spec';
import { notFound } from './http';
import { topicsUnder } from './notify';
import { ok, type Route } from './route';

/**
 * GET /notifiers and, when the VTN has a broker, the MQTT topic-name endpoints of Definitions
 * 3.1.0 ("Notifications via Additional Protocols"). Topics of one object have no CREATE: until
 * it exists nobody can ask for its creation (notifierOperationsTopics).
 */
export function notifierRoutes(notifiers: NotifiersResponse): Route[] {
  const topics = (prefix: (p: Record<string, string>) => string, withCreate = true): Route['handle'] => (_s, c) => {
    if (!notifiers.MQTT) throw notFound('this VTN offers no MQTT notifier');
    return ok(topicsUnder(prefix(c.params), withCreate), notifierTopicsResponseSchema);
  };
  const get = (path: string, handle: Route['handle']): Route => ({ method: 'GET', path, handle });
  return [
    get('/notifiers', () => ok(notifiers, notifiersResponseSchema)),
    get('/notifiers/mqtt/topics/programs', topics(() => 'programs')),
    get('/notifiers/mqtt/topics/programs/{programID}', topics((p) => `programs/${p.programID}`, false)),
    get('/notifiers/mqtt/topics/events', topics(() => 'events')),
    get('/notifiers/mqtt/topics/programs/{programID}/events', topics((p) => `programs/${p.programID}/events`)),
    get('/notifiers/mqtt/topics/reports', topics(() => 'reports')),
    get('/notifiers/mqtt/topics/subscriptions', topics(() => 'subscriptions')),
    get('/notifiers/mqtt/topics/vens', topics(() => 'vens')),
    get('/notifiers/mqtt/topics/vens/{venID}', topics((p) => `vens/${p.venID}`, false)),
    get('/notifiers/mqtt/topics/resources', topics(() => 'resources')),
    get('/notifiers/mqtt/topics/vens/{venID}/events', topics((p) => `vens/${p.venID}/events`)),
    get('/notifiers/mqtt/topics/vens/{venID}/programs', topics((p) => `vens/${p.venID}/programs`)),
    get('/notifiers/mqtt/topics/vens/{venID}/resources', topics((p) => `vens/${p.venID}/resources`)),
  ];
}
