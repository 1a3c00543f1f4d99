/** worker.http_egress */
export interface EgressSettings {
  allow: string[];
  allow_private_networks: boolean;
}
