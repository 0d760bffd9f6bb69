"""JSON-schema pieces that components use in their `DECLARATIONS` (registry.read_declarations):
the only names a declaration may use besides literals, so the DAG reads it without importing the
component's module."""

NUMBER = {"type": "number"}
POSITIVE = {"type": "number", "exclusiveMinimum": 0}
NONNEGATIVE = {"type": "number", "minimum": 0}
SHARE = {"type": "number", "minimum": 0, "maximum": 1}  # a rate, a fraction of the epochs
POSITIVE_INT = {"type": "integer", "minimum": 1}
BOOLEAN = {"type": "boolean"}

CLASS_BALANCE = SHARE  # class weights = frequency ** -class_balance
ELASTIC = {  # the same as the stage-two key in workflow/schemas/config.schema.yaml
    "description": "elastic distortions of the training scenes, [granularity, magnitude] pairs in metres",
    "type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2,
                               "items": {"type": "number", "exclusiveMinimum": 0}},
}
TEST_VIEWS = {
    "description": "predictions average the class probabilities over `rotations` turns about z times `scales`",
    "type": "object", "additionalProperties": False, "required": ["rotations", "scales"],
    "properties": {"rotations": {"type": "integer", "minimum": 1},
                   "scales": {"type": "array", "minItems": 1, "items": {"type": "number", "exclusiveMinimum": 0}}},
}


def enum(*values):
    return {"enum": list(values)}


def subset_of(*values):
    """A non-empty list of distinct values among `values`."""
    return {"type": "array", "uniqueItems": True, "minItems": 1, "items": {"enum": list(values)}}
