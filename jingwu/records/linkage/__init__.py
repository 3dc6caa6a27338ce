"""Person record linkage: Chinese-aware comparisons on Splink (DuckDB or Spark), ID rules,
analyst judgements and constrained clustering.  A pure library: the Django side feeds it records
and judgements and stores what it returns.

    result = link(records)                        # trains a model on the way
    result.model.save("var/linkage-model.json")
    later = link_incremental(clustered, batch, model=LinkageModel.load(...), judgements=js)
"""

from jingwu.records.linkage.clusters import Judgement, constrained_components, pair_key, split_judgements
from jingwu.records.linkage.engines import ENGINES, EngineName
from jingwu.records.linkage.model import (
    INPUT_COLUMNS,
    PREPARE_VERSION,
    PREPARED_COLUMNS,
    LinkageConfig,
    LinkageError,
    LinkageModel,
    LinkResult,
    ReviewPair,
    link,
    link_incremental,
    prepare,
    train_model,
)
from jingwu.records.linkage.names import name_initials, name_keys, name_pinyin, normalize_name

__all__ = [
    "ENGINES",
    "INPUT_COLUMNS",
    "PREPARED_COLUMNS",
    "PREPARE_VERSION",
    "EngineName",
    "Judgement",
    "LinkResult",
    "LinkageConfig",
    "LinkageError",
    "LinkageModel",
    "ReviewPair",
    "constrained_components",
    "link",
    "link_incremental",
    "name_initials",
    "name_keys",
    "name_pinyin",
    "normalize_name",
    "pair_key",
    "prepare",
    "split_judgements",
    "train_model",
]
