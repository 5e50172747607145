import type { LocalCluster, MinioServer } from "@infrahub-backup/testkit";

/**
 * A namespace with PodSecurity `restricted` enforced, a bucket, and a MinIO user that may only list the bucket
 * and get its objects (what verify and drill need: MinIO's canned `readonly` policy has no s3:ListBucket, and
 * --latest needs it), as the Secret `s3-creds` of the namespace. Returns the user's secret key, which no log
 * may show.
 */
export async function readOnlyS3Secret(
  cluster: LocalCluster,
  minio: MinioServer,
  options: { namespace: string; bucket: string; user: string },
): Promise<string> {
  const { namespace, bucket, user } = options;
  await cluster.createNamespace(namespace, {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
  });
  await minio.createBucket(bucket);
  const reader = await minio.createUser({
    name: user,
    document: {
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Action: ["s3:ListBucket"], Resource: [`arn:aws:s3:::${bucket}`] },
        { Effect: "Allow", Action: ["s3:GetObject"], Resource: [`arn:aws:s3:::${bucket}/*`] },
      ],
    },
  });
  await cluster.apply({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "s3-creds", namespace },
    stringData: { AWS_ACCESS_KEY_ID: reader.accessKeyId, AWS_SECRET_ACCESS_KEY: reader.secretAccessKey },
  });
  return reader.secretAccessKey;
}
