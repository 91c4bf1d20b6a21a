/**
 * GitLab pipelines usually have no name (only `workflow:name` sets one), and job hooks
 * carry the pipeline's name in `commit.name`, mostly null. Both fall back to this one name
 * so routes can match every unnamed pipeline of a project with `pipeline`.
 */
export const DEFAULT_PIPELINE_NAME = "pipeline";
