import { handleGet, handleList, handleWatch } from './read-handlers.ts';
import type { ResourceCall, Verb } from './resource-call.ts';
import { handleCreate, handleDelete, handleDeleteCollection, handlePatch, handleUpdate } from './write-handlers.ts';

/** The verbs on one resource: get, list, watch, create, update, patch, delete, deletecollection. */

export async function handleResource(call: ResourceCall, verb: Verb): Promise<void> {
  switch (verb) {
    case 'get': return handleGet(call);
    case 'list': return handleList(call);
    case 'watch': return handleWatch(call);
    case 'create': return handleCreate(call);
    case 'update': return handleUpdate(call);
    case 'patch': return handlePatch(call);
    case 'delete': return handleDelete(call);
    case 'deletecollection': return handleDeleteCollection(call);
  }
}
