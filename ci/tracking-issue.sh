#!/usr/bin/env bash
# Keeps one tracking issue for the nightly kind run: opens it (or comments on it) when the
# run failed, closes it when the run passed again. Uses the GitHub CLI with GH_TOKEN.
# Environment: RESULT (the kind job's result), RUN_URL, GH_REPO.
set -euo pipefail
title="Nightly kind integration is failing"
number="$(gh issue list --state open --label nightly-failure --search "in:title \"$title\"" --json number --jq '.[0].number // empty')"
if [ "$RESULT" = "success" ]; then
  if [ -n "$number" ]; then
    gh issue close "$number" --comment "Passing again: $RUN_URL"
  fi
elif [ -n "$number" ]; then
  gh issue comment "$number" --body "Still failing ($RESULT): $RUN_URL"
else
  gh label create nightly-failure --color B60205 --description "The nightly kind run fails" --force
  gh issue create --title "$title" --label nightly-failure \
    --body "The nightly \`cargo xtask integration --provider kind\` run ended with \`$RESULT\`: $RUN_URL. The report is attached to the run as the artifact \`nightly-report\`. This issue is closed automatically when a nightly run passes again."
fi
