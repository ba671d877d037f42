"""Chapter 14: the 22 questions of the source articles' FAQ sections, with what each article answered.

``QUESTIONS`` keeps each question in its original Chinese wording (the articles' own FAQ
headings), an English translation, a one-line English summary of the article's answer, the
course's verdict on that answer, and the chapters whose experiments answer it. The chapter
prints them from here, so the question list is defined once and ``tests/test_faq.py`` can check
that every question is answered in the chapter.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QUESTIONS", "Question", "VERDICTS"]

VERDICTS = ("right", "incomplete", "wrong")


@dataclass(frozen=True)
class Question:
    number: int
    source: str  # article and FAQ entry
    chinese: str
    english: str
    their_answer: str  # the article's answer, summarised in English
    verdict: str  # one of VERDICTS
    chapters: tuple[str, ...]  # book paths of the chapters that measure the answer

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"question {self.number}: verdict must be one of {VERDICTS}; got {self.verdict!r}")


QUESTIONS = (
    Question(1, "000, question 1", "大型模型的训练速度很慢，有什么办法可以提高训练速度？",
             "Training a large model is slow; how can training be sped up?",
             "parallel computing, distributed training, quantization", "wrong",
             ("chapters/10a_scale_compute", "chapters/10b_scale_parallel", "chapters/11a_efficiency_compression")),
    Question(2, "000, question 2", "大型模型的预测速度很慢，有什么办法可以提高预测速度？",
             "Prediction is slow; how can inference be sped up?", "pruning, quantization", "incomplete",
             ("chapters/11a_efficiency_compression", "chapters/11b_efficiency_deployment")),
    Question(3, "000, question 3", "大型模型的模型文件很大，有什么办法可以减小模型文件大小？",
             "The model file is huge; how can it be made smaller?", "model compression, distillation", "right",
             ("chapters/11a_efficiency_compression",)),
    Question(4, "000, question 4", "大型模型的模型性能如何评估？",
             "How is a large model's performance evaluated?", "cross-validation, \u201c精度\u201d, recall", "wrong",
             ("chapters/14_questions",)),
    Question(5, "000, question 5", "大型模型如何进行模型部署？", "How is a large model deployed?",
             "model servers, model containers", "incomplete", ("chapters/11b_efficiency_deployment",)),
    Question(6, "001, 8.1", "AI大模型的计算资源消耗很大，如何解决？",
             "Large models consume a lot of compute; what can be done?",
             "distributed computing and hardware accelerators (GPU, TPU)", "wrong",
             ("chapters/10b_scale_parallel", "chapters/11a_efficiency_compression")),
    Question(7, "001, 8.2", "AI大模型的模型复杂性很高，如何提高模型的可解释性？",
             "The model is very complex; how can interpretability be improved?", "LIME, SHAP", "incomplete",
             ("chapters/12a_trust_explain_robust",)),
    Question(8, "001, 8.3", "AI大模型的泛化性能有限，如何提高模型的泛化能力？",
             "Generalisation is limited; how can it be improved?", "data augmentation, cross-domain learning",
             "incomplete", ("chapters/12a_trust_explain_robust", "chapters/08_pretraining_finetuning")),
    Question(9, "001, 8.4", "AI大模型的训练时间很长，如何缩短训练时间？",
             "Training takes very long; how can it be shortened?", "knowledge distillation, pretrain then fine-tune",
             "wrong", ("book/mistakes/ch01", "chapters/11a_efficiency_compression", "chapters/08_pretraining_finetuning")),
    Question(10, "001, 8.5", "AI大模型的模型性能有限，如何提高模型的性能？",
             "Performance is limited; how can it be improved?", "model fusion (ensembling), model transfer",
             "right", ("chapters/09a_applications_text", "chapters/08_pretraining_finetuning")),
    Question(11, "002, question 1", "什么是AI大模型？", "What is a large AI model?",
             "large parameter count, complex structure, high performance", "incomplete", ("chapters/01_background",)),
    Question(12, "002, question 2", "AI大模型的优势与挑战是什么？", "What are the advantages and challenges of large models?",
             "performance, wide use, generalisation; compute, privacy, interpretability", "right",
             ("chapters/01_background", "chapters/10a_scale_compute", "chapters/12b_trust_privacy_security")),
    Question(13, "002, question 3", "AI大模型的未来发展趋势是什么？", "What are the future trends?",
             "larger scale, algorithmic innovation, multimodal processing", "incomplete",
             ("chapters/10a_scale_compute", "chapters/09b_applications_vision")),
    Question(14, "002, question 4", "AI大模型的挑战是什么？", "What are the challenges?",
             "compute, data privacy, interpretability (question 2 again)", "right",
             ("chapters/10a_scale_compute", "chapters/12b_trust_privacy_security")),
    Question(15, "003, question 1", "如何选择合适的大模型架构？", "How to choose a suitable architecture?",
             "by task complexity: MobileNet or ShuffleNet for simple tasks, ResNet or DenseNet for medium ones, "
             "BERT or GPT for complex ones", "wrong", ("chapters/14_questions",)),
    Question(16, "003, question 2", "如何优化大模型的训练过程？", "How to optimise the training process?",
             "start with a small learning rate; small batches reduce uncertainty, large ones are faster but may overfit; "
             "augmentation; L1 and L2", "wrong", ("chapters/14_questions", "chapters/10a_scale_compute",
                                                 "chapters/12a_trust_explain_robust")),
    Question(17, "003, question 3", "如何处理多模态数据？", "How to handle multimodal data?",
             "normalise, CNN for images and RNN for text, fuse by concatenation, averaging or a fusion network, "
             "train with multi-task or transfer learning", "incomplete", ("chapters/09b_applications_vision",)),
    Question(18, "003, question 4", "如何保证大模型的安全性？", "How to keep a large model secure?",
             "encryption, differential privacy, adversarial defence, model uninterpretability, compliance, "
             "monitoring and auditing", "wrong", ("chapters/12b_trust_privacy_security", "chapters/12a_trust_explain_robust")),
    Question(19, "004", "大模型的优势是什么？", "What are the advantages of large models?",
             "higher accuracy and generalisation, complex tasks, more data", "incomplete",
             ("chapters/01_background", "chapters/10a_scale_compute")),
    Question(20, "004", "大模型的缺点是什么？", "What are their drawbacks?",
             "compute, complexity, long training", "right", ("chapters/10a_scale_compute", "chapters/11a_efficiency_compression")),
    Question(21, "004", "如何选择适合的大模型算法？", "How to choose a suitable algorithm?",
             "by task, data size and compute; try several and compare", "right", ("chapters/14_questions",)),
    Question(22, "004", "如何优化大模型的训练和推理速度？", "How to speed up training and inference?",
             "efficient algorithms, fewer parameters, faster hardware", "incomplete",
             ("chapters/10a_scale_compute", "chapters/10b_scale_parallel", "chapters/11a_efficiency_compression")),
)
