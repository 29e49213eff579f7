#!/usr/bin/env bash
# Forces a new deployment of an ECS service, so that its tasks pull their image tag again (`latest` on the
# development service, `stable` on production), and waits until that deployment serves alone and completed.
# Fails when it did not settle within `aws ecs wait services-stable`'s 10 minutes, or when the deployment circuit
# breaker rolled it back (the service is then stable, but on the previous tasks).
# Usage: scripts/ecs-deploy.sh <cluster> <service>   (AWS credentials and region from the environment)
set -euo pipefail

cluster=${1:?usage: ecs-deploy.sh <cluster> <service>}
service=${2:?usage: ecs-deploy.sh <cluster> <service>}
primary="services[0].deployments[?status=='PRIMARY'] | [0]"

events() {
  aws ecs describe-services --cluster "$cluster" --services "$service" \
    --query 'services[0].events[:10].[createdAt, message]' --output text || true
}
fail() {
  echo "::error::$*"
  events
  exit 1
}

deployment=$(aws ecs update-service --cluster "$cluster" --service "$service" --force-new-deployment \
  --query "service.deployments[?status=='PRIMARY'] | [0].id" --output text)
echo "ecs-deploy: deployment $deployment of $service on $cluster started"

aws ecs wait services-stable --cluster "$cluster" --services "$service" ||
  fail "$service on $cluster did not become stable"

read -r current state < <(aws ecs describe-services --cluster "$cluster" --services "$service" \
  --query "$primary.[id, rolloutState]" --output text)
[[ "$current" == "$deployment" && "$state" == COMPLETED ]] ||
  fail "deployment $deployment of $service was not completed (primary now: $current, $state): rolled back?"
echo "ecs-deploy: $service on $cluster is stable on deployment $deployment"
