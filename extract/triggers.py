"""Polarity trigger phrases for the rules extractor (NegEx/pyConText style).

Each phrase is lower-case words; matching is on the report's words, longest first,
so ``not seen`` (post-negation) wins over ``not`` (pre-negation) and ``no change``
(pseudo-negation) wins over ``no``. Edit these lists to tune the extractor; the
kinds are:

* ``pseudo``    – looks like a trigger but is not ("no change in", "not only"): consumed, no effect;
* ``neg``       – negates what follows in its scope ("no", "without", "free of");
* ``neg_post``  – negates what precedes in its clause ("is not seen", "has resolved");
* ``neg_weak``  – negates what follows, but yields to any other mention ("no new", "history of");
* ``unc``       – makes what follows uncertain ("possible", "concerning for", "likely");
* ``unc_post``  – makes what precedes uncertain ("cannot be excluded", "is suspected");
* ``unc_both``  – the mention before and the ones after are uncertain ("atelectasis versus pneumonia");
* ``unc_alt``   – like ``unc_both``, but only between two observations and never under a negation:
  "atelectasis or pneumonia", "collapse and/or consolidation" are differentials, "no effusion or
  pneumothorax" stays a negated list;
* ``term``      – ends any open scope ("but", "however", "which").
"""

from __future__ import annotations

TRIGGERS: dict[str, tuple[str, ...]] = {
    "pseudo": (
        "no change", "no changes", "no interval change", "no significant change", "no significant interval change",
        "no appreciable change", "no substantial change", "no definite change", "no relevant change",
        "without change", "without interval change", "without significant change", "not changed",
        "not significantly changed", "not appreciably changed", "no increase", "no decrease",
        "no significant increase", "no significant decrease", "no interval increase", "no interval decrease",
        "not only", "no worsening", "not increased", "not decreased", "gram negative", "not well seen",
        "not well visualized", "not well evaluated", "cannot be assessed", "can not be assessed",
        "not been assessed", "no other change", "no other changes", "no interval worsening",
        "nearly resolved", "near resolution of", "near complete resolution of", "almost resolved", "largely resolved",
        "partially resolved", "partial resolution of", "incompletely resolved", "not completely resolved",
        "not entirely resolved", "not resolved", "has not resolved", "have not resolved", "resolving",
        "has largely resolved", "have largely resolved", "has nearly resolved", "has partially resolved",
        "should not be mistaken for",
        # a tube "withdrawn by 2 cm" is still there; a finding "not well localized" is still seen
        "has been withdrawn", "have been withdrawn", "was withdrawn", "not well localized", "not well defined",
        "not well delineated", "not well characterized", "not well assessed",
    ),
    "neg": (
        "no", "not", "without", "free of", "negative for", "absence of", "absent", "no evidence of",
        "no radiographic evidence of", "no radiographic evidence for", "no evidence for", "no signs of",
        "no sign of", "no findings of", "no findings to suggest", "no definite", "no definite evidence of",
        "no convincing", "no convincing evidence of", "without evidence of", "without definite", "never",
        "neither", "nor", "ruled out", "rules out", "resolution of", "interval resolution of",
        "resolved", "removal of", "interval removal of", "clear of", "no longer", "no residual",
        "no visible", "no appreciable", "no significant", "no large", "no overt",
        "no frank", "no obvious", "no gross", "no discrete", "no displaced", "without focal",
        "status post removal of", "s/p removal of",
        # "the lungs are grossly clear of airspace disease, pneumothorax or effusion": a negated list, not the
        # normal statement "grossly clear" followed by findings
        "grossly clear of", "essentially clear of", "otherwise clear of", "are clear of", "remain clear of",
    ),
    "neg_post": (
        "is not seen", "are not seen", "not seen", "is not identified", "are not identified", "not identified",
        "not visualized", "is not visualized", "are not visualized", "not present", "is not present",
        "are not present", "is absent", "are absent", "has resolved", "have resolved", "has been removed", "have been removed",
        "were removed", "was removed", "removed", "no longer seen", "no longer visualized",
        "no longer present", "no longer visible", "is no longer", "are no longer", "not appreciated",
        "not evident", "not demonstrated", "not detected", "is gone", "has cleared", "have cleared",
        "cleared", "not apparent", "is resolved", "are resolved", "has resolved since", "not excluded by",
    ),
    "neg_weak": (
        "no new", "without new", "no newly", "no additional", "no new focal", "no new areas of",
        "history of", "h/o", "known history of", "prior history of", "remote history of",
    ),
    "unc": (
        "possible", "possibly", "probable", "probably", "likely", "most likely", "more likely",
        "less likely", "may", "might", "could", "may represent", "could represent", "may reflect",
        "could reflect", "may be", "could be", "might be", "questionable", "question of", "suspected",
        "suspicious for", "suspicious of", "concerning for", "concern for", "worrisome for",
        "suggestive of", "suggesting", "suggests", "consider", "considered", "differential includes",
        "differential diagnosis includes", "cannot exclude", "can not exclude", "cannot rule out",
        "can not rule out", "difficult to exclude", "equivocal", "borderline", "presumed",
        "presumably", "indeterminate", "potential",
        "potentially", "perhaps", "impossible to exclude", "with or without",
        "would be difficult to exclude", "raising concern for", "raises concern for", "possibly representing",
        "may well represent", "likely representing", "maybe", "to exclude", "to rule out", "rule out", "r/o",
        # a hedge before a causal link keeps its reach ("possibly due to atelectasis"): these outrank "due to" (term)
        "possibly due to", "may be due to", "could be due to", "might be due to", "possibly secondary to",
        "possibly related to", "may be related to", "could be related to",
        "i suspect", "suspect", "unclear if", "cannot be certain",
        # "hard to say whether there is edema": "whether" opens the scope and outranks "there is" (term)
        "whether", "whether there is", "whether there are", "whether there has been",
        "differential diagnosis would include", "differential would include", "differential diagnosis",
        "differential diagnosis is", "differential considerations include", "differential considerations",
        "differential includes", "the differential includes",
        # a request to look for something is not a finding of it
        "evaluate for", "to evaluate for", "evaluation for", "assess for", "to assess for", "correlate for",
        "correlate clinically for", "clinically correlate for", "clinical correlation for",
        # probable (extract.certainty): the finding is named as the likely reading, not stated outright
        "consistent with", "compatible with", "in keeping with", "most consistent with", "favored", "favoring",
        "favor", "favour", "favoured", "most compatible with", "highly suggestive of",
        # "minimal if any effusion": the hedge before the finding
        "minimal if any", "small if any", "trace if any", "little if any", "mild if any",
    ),
    "unc_post": (
        "cannot be excluded", "can not be excluded", "can't be excluded", "cannot be ruled out",
        "can not be ruled out", "could not be excluded", "not entirely excluded", "is not excluded",
        "are not excluded", "not excluded", "is possible", "are possible", "is suspected",
        "are suspected", "is questioned", "is likely", "are likely", "is not entirely excluded",
        "is difficult to exclude", "difficult to exclude", "is a possibility", "not ruled out",
        "is considered", "if any", "if present", "if there is any", "is presumed", "are presumed",
        "is a possibility", "is also a possibility", "are a possibility", "is also possible", "is questionable",
        "is suggested", "are suggested", "is not entirely excluded",
        "is less likely", "are less likely", "is felt less likely", "is thought less likely", "is thought likely",
        "are thought likely", "should be considered", "should also be considered", "must be considered",
        "must be excluded", "should be excluded", "needs to be excluded", "need to be excluded",
        "is not completely excluded", "are not completely excluded", "not completely excluded",
        "cannot be entirely excluded", "can not be entirely excluded", "cannot be completely excluded",
        "could not be entirely excluded", "are not entirely excluded", "is not ruled out", "are not ruled out",
        "may be present", "might be present", "could be present", "may also be present",
        "is impossible to say", "impossible to say", "is uncertain", "are uncertain", "is equivocal", "is not certain",
        "is favored", "are favored", "is favoured",
    ),
    "unc_both": ("versus", "vs", "or less likely", "or more likely"),
    "unc_alt": ("or",),
    "term": (
        "but", "however", "although", "though", "aside from", "apart from", "except", "except for",
        "with the exception of", "which", "whereas", "while", "otherwise", "there is", "there are",
        "there has been", "there have been", "since", "and there is", "unchanged", "now",
        "secondary to", "due to",
    ),
}

#: Words that modify an observation (RadGraph ``modify``): severity, size, change, extent.
MODIFIER_WORDS = frozenset(
    """
    mild mildly moderate moderately severe severely minimal minimally small smaller large larger tiny trace
    little minor marked markedly massive extensive slight slightly subtle substantial significant
    increased increasing increase decreased decreasing decrease improved improving improvement worsened
    worsening worse progressed progression progressive enlarging stable unchanged persistent persistently
    new newly recurrent residual chronic acute subacute old healed healing prior previous
    diffuse focal patchy multifocal streaky hazy faint dense confluent scattered bilateral bilaterally
    layering loculated nodular linear reticular reticulonodular interstitial vague low lung-volume
    """.split()
)

#: Words for a side or a part of an organ (RadGraph ANAT-DP without a concept of their own).
ANATOMY_WORDS = frozenset(
    """
    left right bilateral bilaterally lower upper middle mid lobe lobes zone zones lateral medial posterior
    anterior retrocardiac paratracheal subpleural peripheral central perihilar basilar apical
    segment segments segmental subsegmental field fields carina hemithorax cardiopulmonary parenchymal
    """.split()
)

#: Observation nouns that are not findings of their own ("no acute cardiopulmonary process", "the tip of the tube",
#: "no interval change"): entities for RadGraph and the polarity engine, never concepts.
GENERIC_OBSERVATION_WORDS = frozenset(
    "process processes abnormality abnormalities tip position loss".split()
)

#: Prepositions after an observation that lead to where it is ("opacity in the left lower lobe").
LOCATIVE_WORDS = frozenset(
    "in at within of involving along over overlying projecting projects near adjacent abutting into both "
    "from through above below beneath under the a an region level".split()
)

#: An observation followed by one of these and another observation: the first suggests the second.
SUGGESTIVE_PHRASES = (
    "suggestive of", "concerning for", "suspicious for", "worrisome for", "compatible with",
    "consistent with", "likely", "most likely", "may represent", "could represent", "representing",
    "may reflect", "could reflect", "reflecting", "likely reflecting", "likely representing",
    "possibly representing", "in keeping with", "which may be", "which could be", "likely due to",
    "due to", "secondary to", "from", "likely from", "raising concern for", "concern for",
)

#: Verbs that close a forward scope once it has captured something ("no effusion is present and ...").
CLAUSE_VERBS = frozenset(
    "is are was were has have had appears appear remains remain demonstrates shows show measures "
    "measure extends extend terminates terminate ends end courses course projects lies enters enter "
    "traverses traverse passes pass crosses cross reaches reach descends descend".split()
)

#: A finding stated as "<anatomy> is <word>": anatomy CUI -> ((words, concept CUI), ...).
#: "The heart is enlarged" -> Cardiomegaly; "blunting of the costophrenic angle" -> Pleural effusion.
_ENLARGED = frozenset("enlarged enlargement enlarging prominent prominence".split())
COMPOSED: dict[str, tuple[tuple[frozenset[str], str], ...]] = {
    "C0018787": ((_ENLARGED, "C0018800"),),  # Heart -> Cardiomegaly
    "C0025066": ((_ENLARGED | {"widened", "widening", "wide"}, "C0746459"),),  # Mediastinum -> Widened mediastinum
    "C0230151": ((frozenset({"blunting", "blunted", "blunt"}), "C0032227"),),  # Costophrenic angle -> Pleural effusion
    "C0929176": ((_ENLARGED | {"fullness", "full", "bulky"}, "C0744903"),),  # Hilum -> Hilar enlargement
    "C0040578": ((frozenset({"deviated", "deviation", "shifted", "shift", "displaced", "displacement"}), "C0392014"),),
    "C0011980": (
        (frozenset({"flattened", "flattening", "flat"}), "C0743169"),  # Diaphragm -> Flattened diaphragm
        (frozenset({"elevated", "elevation", "raised"}), "C0264583"),  # -> Elevated diaphragm
    ),
    "C0003483": (
        (frozenset({"calcified", "calcification", "calcifications", "atherosclerotic"}), "C1096249"),
        (frozenset({"tortuous", "tortuosity", "unfolded", "unfolding", "ectatic", "elongated"}), "C0741171"),
    ),
}
COMPOSED_WORDS = frozenset(w for rules in COMPOSED.values() for words, _ in rules for w in words)
#: Words that state a composed finding only as a sign of it, hedged ("blunting of the costophrenic angle" is a small
#: effusion or pleural thickening; a "prominent" heart or hilum is borderline): the finding is possible, not definite.
SIGN_WORDS = frozenset({"blunting", "blunted", "blunt", "prominent", "prominence"})
#: Lexicon phrases that name a finding by its look only ("a nodular density" may be a nodule, a vessel seen end-on,
#: a nipple shadow or a bone island): the finding is possible.
SIGN_PHRASES = frozenset({"nodular density", "nodular densities", "nodular opacity", "nodular opacities", "nodularity"})
#: "<anatomy> is normal" says these composed findings are absent ("top normal" makes them uncertain).
NORMAL_OF: dict[str, tuple[str, ...]] = {
    "C0018787": ("C0018800",),  # heart -> cardiomegaly
    "C0025066": ("C0746459",),  # mediastinum -> widened mediastinum
    "C0929176": ("C0744903",),  # hila -> hilar enlargement
    "C0024109": ("C0521530",),  # lungs clear -> no consolidation (airspace disease)
    "C0230151": ("C0032227",),  # costophrenic angles sharp -> no pleural effusion
    "C0032225": ("C0032227", "C0032326"),  # pleural spaces clear -> no effusion, no pneumothorax
}
NORMAL_PHRASES = ("normal", "within normal limits", "unremarkable", "normal in size", "normal size", "clear",
                  "sharp", "sharply defined", "well expanded and clear", "grossly clear")
BORDERLINE_PHRASES = ("top normal", "top-normal", "upper limits of normal", "upper limit of normal", "borderline")
