"""subsidencelab:samplestudyarea (placeholder until core.synthetic lands)."""

from .base import SubsidenceAlgorithm


class SampleStudyAreaAlgorithm(SubsidenceAlgorithm):
    _name = "samplestudyarea"
    _display = "Create sample study area"
    _group_id = "data"
    _group = "Data"
    _help = "Creates a synthetic study area."

    def initAlgorithm(self, config=None):
        pass

    def processAlgorithm(self, parameters, context, feedback):
        return {}
