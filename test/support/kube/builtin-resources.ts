import type { PrinterColumn, ResourceType, ScaleSubresource } from './resource-type.ts';

/**
 * The built-in kinds: what the operator touches (Deployments, Pods, Leases, Events, Secrets...) and
 * what `kubectl apply` of ordinary manifests needs (RBAC, policy, networking). Storage is generic; a
 * kind here only needs names, scope and, where kubectl shows them, printer columns.
 */

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

const REPLICA_SCALE: ScaleSubresource = {
  specReplicasPath: '.spec.replicas',
  statusReplicasPath: '.status.replicas',
  labelSelectorPath: '.status.selector',
};

interface BuiltinOptions {
  namespaced?: boolean;
  shortNames?: string[];
  categories?: string[];
  status?: boolean;
  scale?: boolean;
  generation?: boolean;
  columns?: PrinterColumn[];
  selectableFields?: Record<string, string>;
  singular?: string;
}

function builtin(group: string, versions: string[], resource: string, kind: string, options: BuiltinOptions = {}): ResourceType {
  const columns = [...(options.columns ?? []), AGE];
  return {
    group,
    resource,
    kind,
    listKind: `${kind}List`,
    singular: options.singular ?? kind.toLowerCase(),
    namespaced: options.namespaced ?? true,
    shortNames: options.shortNames ?? [],
    categories: options.categories ?? [],
    versions: versions.map((name) => ({
      name,
      printerColumns: columns,
      statusSubresource: options.status ?? false,
      ...(options.scale ? { scale: REPLICA_SCALE } : {}),
    })),
    storageVersion: versions[0] ?? 'v1',
    custom: false,
    tracksGeneration: options.generation ?? false,
    selectableFields: options.selectableFields ?? {},
  };
}

const EVENT_FIELDS: Record<string, string> = {
  'involvedObject.kind': 'involvedObject.kind',
  'involvedObject.namespace': 'involvedObject.namespace',
  'involvedObject.name': 'involvedObject.name',
  'involvedObject.uid': 'involvedObject.uid',
  'involvedObject.apiVersion': 'involvedObject.apiVersion',
  'involvedObject.resourceVersion': 'involvedObject.resourceVersion',
  'involvedObject.fieldPath': 'involvedObject.fieldPath',
  reason: 'reason',
  reportingComponent: 'reportingComponent',
  source: 'source.component',
  type: 'type',
};

const ALL = ['all'];
const column = (name: string, jsonPath: string, type = 'string'): PrinterColumn => ({ name, type, jsonPath });

export function builtinResourceTypes(): ResourceType[] {
  return [
    builtin('', ['v1'], 'namespaces', 'Namespace', { namespaced: false, shortNames: ['ns'], status: true, columns: [column('Status', '.status.phase')] }),
    builtin('', ['v1'], 'nodes', 'Node', { namespaced: false, shortNames: ['no'], status: true }),
    builtin('', ['v1'], 'pods', 'Pod', {
      shortNames: ['po'], categories: ALL, status: true,
      columns: [column('Status', '.status.phase'), column('Node', '.spec.nodeName')],
      selectableFields: { 'spec.nodeName': 'spec.nodeName', 'status.phase': 'status.phase', 'spec.serviceAccountName': 'spec.serviceAccountName', 'status.podIP': 'status.podIP' },
    }),
    builtin('', ['v1'], 'services', 'Service', { shortNames: ['svc'], categories: ALL, status: true, columns: [column('Type', '.spec.type'), column('Cluster-IP', '.spec.clusterIP')] }),
    builtin('', ['v1'], 'endpoints', 'Endpoints', { shortNames: ['ep'], singular: 'endpoints' }),
    builtin('', ['v1'], 'configmaps', 'ConfigMap', { shortNames: ['cm'] }),
    builtin('', ['v1'], 'secrets', 'Secret', { columns: [column('Type', '.type')], selectableFields: { type: 'type' } }),
    builtin('', ['v1'], 'serviceaccounts', 'ServiceAccount', { shortNames: ['sa'] }),
    builtin('', ['v1'], 'events', 'Event', {
      shortNames: ['ev'], selectableFields: EVENT_FIELDS,
      columns: [column('Type', '.type'), column('Reason', '.reason'), column('Object', '.involvedObject.name'), column('Message', '.message')],
    }),
    builtin('', ['v1'], 'persistentvolumeclaims', 'PersistentVolumeClaim', { shortNames: ['pvc'], status: true }),
    builtin('', ['v1'], 'persistentvolumes', 'PersistentVolume', { namespaced: false, shortNames: ['pv'], status: true }),
    builtin('', ['v1'], 'resourcequotas', 'ResourceQuota', { shortNames: ['quota'], status: true }),
    builtin('', ['v1'], 'limitranges', 'LimitRange', { shortNames: ['limits'] }),
    builtin('', ['v1'], 'replicationcontrollers', 'ReplicationController', { shortNames: ['rc'], status: true, scale: true, generation: true }),
    builtin('apps', ['v1'], 'deployments', 'Deployment', {
      shortNames: ['deploy'], categories: ALL, status: true, scale: true, generation: true,
      columns: [column('Desired', '.spec.replicas', 'integer'), column('Ready', '.status.readyReplicas', 'integer'), column('Up-to-date', '.status.updatedReplicas', 'integer'), column('Available', '.status.availableReplicas', 'integer')],
    }),
    builtin('apps', ['v1'], 'replicasets', 'ReplicaSet', { shortNames: ['rs'], categories: ALL, status: true, scale: true, generation: true }),
    builtin('apps', ['v1'], 'statefulsets', 'StatefulSet', { shortNames: ['sts'], categories: ALL, status: true, scale: true, generation: true }),
    builtin('apps', ['v1'], 'daemonsets', 'DaemonSet', { shortNames: ['ds'], categories: ALL, status: true, generation: true }),
    builtin('apps', ['v1'], 'controllerrevisions', 'ControllerRevision'),
    builtin('batch', ['v1'], 'jobs', 'Job', { categories: ALL, status: true, generation: true }),
    builtin('batch', ['v1'], 'cronjobs', 'CronJob', { shortNames: ['cj'], categories: ALL, status: true, generation: true, columns: [column('Schedule', '.spec.schedule'), column('Suspend', '.spec.suspend', 'boolean')] }),
    builtin('autoscaling', ['v2', 'v1'], 'horizontalpodautoscalers', 'HorizontalPodAutoscaler', { shortNames: ['hpa'], categories: ALL, status: true, generation: true }),
    builtin('coordination.k8s.io', ['v1'], 'leases', 'Lease', { columns: [column('Holder', '.spec.holderIdentity')] }),
    builtin('events.k8s.io', ['v1'], 'events', 'Event', {
      shortNames: ['ev'],
      selectableFields: { 'regarding.kind': 'regarding.kind', 'regarding.name': 'regarding.name', 'regarding.namespace': 'regarding.namespace', 'regarding.uid': 'regarding.uid', reason: 'reason', type: 'type', reportingController: 'reportingController' },
    }),
    builtin('apiextensions.k8s.io', ['v1'], 'customresourcedefinitions', 'CustomResourceDefinition', {
      namespaced: false, shortNames: ['crd', 'crds'], categories: ['api-extensions'], status: true, generation: true,
    }),
    builtin('rbac.authorization.k8s.io', ['v1'], 'roles', 'Role'),
    builtin('rbac.authorization.k8s.io', ['v1'], 'rolebindings', 'RoleBinding'),
    builtin('rbac.authorization.k8s.io', ['v1'], 'clusterroles', 'ClusterRole', { namespaced: false }),
    builtin('rbac.authorization.k8s.io', ['v1'], 'clusterrolebindings', 'ClusterRoleBinding', { namespaced: false }),
    builtin('policy', ['v1'], 'poddisruptionbudgets', 'PodDisruptionBudget', { shortNames: ['pdb'], status: true, generation: true }),
    builtin('networking.k8s.io', ['v1'], 'networkpolicies', 'NetworkPolicy', { shortNames: ['netpol'], generation: true }),
    builtin('networking.k8s.io', ['v1'], 'ingresses', 'Ingress', { shortNames: ['ing'], status: true, generation: true }),
    builtin('networking.k8s.io', ['v1'], 'ingressclasses', 'IngressClass', { namespaced: false }),
    builtin('scheduling.k8s.io', ['v1'], 'priorityclasses', 'PriorityClass', { namespaced: false, shortNames: ['pc'] }),
    builtin('storage.k8s.io', ['v1'], 'storageclasses', 'StorageClass', { namespaced: false, shortNames: ['sc'] }),
    builtin('authorization.k8s.io', ['v1'], 'selfsubjectaccessreviews', 'SelfSubjectAccessReview', { namespaced: false }),
    builtin('authorization.k8s.io', ['v1'], 'subjectaccessreviews', 'SubjectAccessReview', { namespaced: false }),
    builtin('authorization.k8s.io', ['v1'], 'selfsubjectrulesreviews', 'SelfSubjectRulesReview', { namespaced: false }),
    builtin('admissionregistration.k8s.io', ['v1'], 'validatingwebhookconfigurations', 'ValidatingWebhookConfiguration', { namespaced: false, generation: true }),
    builtin('admissionregistration.k8s.io', ['v1'], 'mutatingwebhookconfigurations', 'MutatingWebhookConfiguration', { namespaced: false, generation: true }),
  ];
}
