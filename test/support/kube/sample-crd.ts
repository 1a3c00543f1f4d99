/**
 * A small ScheduledTask-like CRD for tests of the server itself (the real CRDs live in crds/ and are
 * tested against this server separately): printer columns, status and scale subresources, defaults,
 * enums, bounds, a pattern and CEL rules of the kinds the operator's CRDs use.
 */
export const SAMPLE_GROUP = 'sample.hourglass.dev';
export const SAMPLE_API_VERSION = `${SAMPLE_GROUP}/v1alpha1`;
export const SAMPLE_RESOURCE = 'sampletasks';

export const SAMPLE_CRD_YAML = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: sampletasks.sample.hourglass.dev
spec:
  group: sample.hourglass.dev
  scope: Namespaced
  names:
    plural: sampletasks
    singular: sampletask
    kind: SampleTask
    shortNames: [smt]
  versions:
    - name: v1alpha1
      served: true
      storage: true
      subresources:
        status: {}
        scale:
          specReplicasPath: .spec.replicas.desired
          statusReplicasPath: .status.replicas
      additionalPrinterColumns:
        - { name: Schedule, type: string, jsonPath: .spec.schedule }
        - { name: Suspend, type: boolean, jsonPath: .spec.suspend }
        - { name: Desired, type: integer, jsonPath: .spec.replicas.desired }
        - { name: Last Result, type: string, jsonPath: .status.lastRun.phase }
        - { name: Age, type: date, jsonPath: .metadata.creationTimestamp }
      schema:
        openAPIV3Schema:
          type: object
          description: A task that runs on a schedule.
          properties:
            spec:
              type: object
              required: [type]
              x-kubernetes-validations:
                - rule: "self.type == 'shell' ? has(self.shell) && !has(self.http) : has(self.http) && !has(self.shell)"
                  message: exactly the block that matches type must be set
                - rule: "!has(self.replicas) || self.replicas.min <= self.replicas.max"
                  message: replicas.min must be <= replicas.max
                  fieldPath: .replicas
              properties:
                type: { type: string, enum: [shell, http] }
                schedule: { type: string, pattern: '^(@every .+|@[a-z]+|[0-9*/,-]+( [0-9*/,?A-Za-z-]+){4,5})$' }
                suspend: { type: boolean, default: false }
                concurrencyPolicy: { type: string, enum: [Allow, Forbid, Replace], default: Allow }
                priority: { type: integer, minimum: -100, maximum: 100 }
                shell:
                  type: object
                  required: [command]
                  properties:
                    command: { type: array, minItems: 1, items: { type: string } }
                    env: { type: object, additionalProperties: { type: string } }
                http:
                  type: object
                  properties:
                    url: { type: string }
                replicas:
                  type: object
                  properties:
                    min: { type: integer, minimum: 0, default: 0 }
                    max: { type: integer, minimum: 1, default: 10 }
                    desired: { type: integer, minimum: 0 }
                template:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
            status:
              type: object
              properties:
                observedGeneration: { type: integer }
                replicas: { type: integer }
                lastRun:
                  type: object
                  properties:
                    phase: { type: string }
                conditions:
                  type: array
                  items:
                    type: object
                    x-kubernetes-preserve-unknown-fields: true
`;

export function sampleTask(name: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: SAMPLE_API_VERSION,
    kind: 'SampleTask',
    metadata: { name, ...metadata },
    spec: { type: 'shell', schedule: '*/5 * * * *', shell: { command: ['echo', 'hi'] }, ...spec },
  };
}
