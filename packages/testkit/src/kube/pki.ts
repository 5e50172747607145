import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../run.js";

/** Files of the local cluster's credentials (all PEM, under one directory). */
export interface ClusterPki {
  caCert: string;
  caKey: string;
  /** kube-apiserver serving certificate: 127.0.0.1, 10.0.0.1 (the `kubernetes` Service), localhost, kubernetes… */
  apiserverCert: string;
  apiserverKey: string;
  /** The apiserver's client certificate towards kubelets (here kwok's server). */
  kubeletClientCert: string;
  kubeletClientKey: string;
  /** kwok's kubelet-like server (exec, logs): 127.0.0.1, verified by the apiserver with the CA. */
  kwokServingCert: string;
  kwokServingKey: string;
  /** Service-account token signing pair. */
  serviceAccountKey: string;
  serviceAccountPub: string;
  /** A client certificate of group system:masters (the apiserver trusts the CA for client certificates). */
  adminClientCert: string;
  adminClientKey: string;
}

const ECDSA = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function openssl(args: string[]): Promise<void> {
  await run("openssl", args);
}

async function signedCert(
  dir: string,
  pki: Pick<ClusterPki, "caCert" | "caKey">,
  name: string,
  subject: string,
  extensions: string,
): Promise<[string, string]> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, extensions);
  await openssl(["req", ...ECDSA, "-subj", subject, "-keyout", key, "-out", csr]);
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    pki.caCert,
    "-CAkey",
    pki.caKey,
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    ext,
    "-out",
    cert,
  ]);
  return [cert, key];
}

/** A throw-away CA and the certificates the control plane needs (ECDSA P-256: fast to generate). */
export async function createClusterPki(dir: string): Promise<ClusterPki> {
  const caCert = join(dir, "ca.crt");
  const caKey = join(dir, "ca.key");
  await openssl([
    "req",
    "-x509",
    ...ECDSA,
    "-days",
    "2",
    "-subj",
    "/CN=ihb-local-cluster-ca",
    "-keyout",
    caKey,
    "-out",
    caCert,
  ]);
  const ca = { caCert, caKey };
  const serverAuth = "extendedKeyUsage=serverAuth\n";
  const [apiserverCert, apiserverKey] = await signedCert(
    dir,
    ca,
    "apiserver",
    "/CN=kube-apiserver",
    `subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n${serverAuth}`,
  );
  const [kubeletClientCert, kubeletClientKey] = await signedCert(
    dir,
    ca,
    "apiserver-kubelet-client",
    "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client",
    "extendedKeyUsage=clientAuth\n",
  );
  const [kwokServingCert, kwokServingKey] = await signedCert(
    dir,
    ca,
    "kwok-serving",
    "/CN=kwok-node",
    `subjectAltName=IP:127.0.0.1,DNS:localhost\n${serverAuth}`,
  );
  const [adminClientCert, adminClientKey] = await signedCert(
    dir,
    ca,
    "admin-client",
    "/O=system:masters/CN=ihb-admin-cert",
    "extendedKeyUsage=clientAuth\n",
  );
  const serviceAccountKey = join(dir, "sa.key");
  const serviceAccountPub = join(dir, "sa.pub");
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", serviceAccountKey]);
  await openssl(["ec", "-in", serviceAccountKey, "-pubout", "-out", serviceAccountPub]);
  return {
    caCert,
    caKey,
    apiserverCert,
    apiserverKey,
    kubeletClientCert,
    kubeletClientKey,
    kwokServingCert,
    kwokServingKey,
    serviceAccountKey,
    serviceAccountPub,
    adminClientCert,
    adminClientKey,
  };
}
